"""What a device is: the inventory, ~/.ssh/config aliases, and board profiles (linux, jetson, raspberrypi)."""
