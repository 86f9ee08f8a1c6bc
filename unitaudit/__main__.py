from unitaudit.cli import main

main()
