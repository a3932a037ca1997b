from gal_exec.cli import main

raise SystemExit(main())
