"""Order flow: status updates, receipts and pickup reminders."""
