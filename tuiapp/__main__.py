from tuiapp.cli import main

main()
