"""The host side: transports, agent deployment, clock sync, the measured session, results, the CLI."""
