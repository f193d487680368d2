# commands: send_to_group.
