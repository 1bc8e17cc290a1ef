from autoglm_demo.cli import main

main()
