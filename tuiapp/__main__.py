from tuiapp.cli.main import main

main()
