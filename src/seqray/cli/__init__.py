"""The `seqray` command: one module per subcommand, `main(argv)` callable from tests."""
