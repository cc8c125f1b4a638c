"""OpenAI-compatible endpoints: what a server can do, how llmx talks to it, and what its
failures mean.

* :mod:`~llmx._endpoints.client` -- :class:`EndpointClient`: sending, retries, re-asks
  and the request budget of one call;
* :mod:`~llmx._endpoints._instructor` -- the one boundary to instructor.

The package re-exports nothing: import from the module that defines a name.
"""
