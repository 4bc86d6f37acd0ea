from dllab.cli import main

main()
