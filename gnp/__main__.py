from gnp.cli import main

main()
