from flowscope.cli import main

main()
