from regseg.cli import main

main()
