from oom_enricher.cli.main import main

raise SystemExit(main())
