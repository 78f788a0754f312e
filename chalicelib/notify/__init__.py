"""Customer notifications: which milestones an order change produces, their messages, their delivery."""
