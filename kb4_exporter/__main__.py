from kb4_exporter.cli import main

main()
