"""``python -m llmx.testing``: run :class:`FakeOpenAI` as a standalone server."""

from llmx.testing._fake_openai import main

raise SystemExit(main())
