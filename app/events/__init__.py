"""The Events API worker (`clever-login events`): keeps live sessions in step with the roster.

- `lock`: one worker per district at a time, across replicas;
- `cursor`: the last event applied per district, kept in Redis;
- `effects`: what an event does to live sessions;
- `worker`: the polling loop (discovery, order, backoff, the 30-day limit);
- `metrics` and `process`: what the running process shows, and its start and stop.
"""
