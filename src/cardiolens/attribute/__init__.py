"""The attribute stage: Captum attribution maps with quantitative checks (localisation, faithfulness, sanity, shortcuts)."""
