"""Regional motion of echo recordings: points placed on the ED mask, tracked with ITK demons."""
