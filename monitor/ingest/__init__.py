"""Getting items in: the item record, text cleaning, back-off, the webhook and every source kind."""
