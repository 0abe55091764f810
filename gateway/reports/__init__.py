"""Reports for ops: agent performance and the team's figures (``agent_stats``), and
satisfaction surveys whose answers feed them (``surveys``)."""
