"""Pure statechart definitions: no Flask, no database."""
