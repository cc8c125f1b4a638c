"""OpenAI-compatible endpoints: what a server can do, how llmx talks to it, and what its
failures mean. From the bottom up:

* :mod:`~llmx._endpoints.profiles` -- output modes, the server families
  (:data:`~llmx._endpoints.profiles.PROFILES`), :class:`Endpoint` (a profile resolved
  against the settings), :func:`is_loopback`; no openai, no instructor;
* :mod:`~llmx._endpoints._instructor` -- the one boundary to instructor;
* :mod:`~llmx._endpoints.errors` -- transient or not, ``Retry-After``, the llmx error a
  failure becomes;
* :mod:`~llmx._endpoints.client` -- :class:`EndpointClient`: sending, retries, re-asks
  and the request budget of one call.

The package re-exports nothing (import from the module that defines a name), so that
reading a profile does not import openai and instructor.
"""
