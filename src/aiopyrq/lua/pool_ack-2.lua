--[[
  Acknowledges items handed out: each is due again ARGV[1] seconds from now.
  Items not in flight (never handed out, acknowledged already, or removed) are
  left as they are.

  Input:
    KEYS[1] pool sorted set
    KEYS[2] history hash (includes/history): the items acknowledged count as
            acked
    ARGV[1] ack_valid_for: seconds until an acknowledged item is due again
    ARGV[2] the items, packed: a msgpack array of strings

  Output:
    how many items were acknowledged
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"
--- @include "includes/in_flight"
--- @include "includes/zadd"
--- @include "includes/history"

ready({ 'TIME', 'HLEN', 'ZSCORE', 'ZADD', 'HSET', 'PEXPIRE', 'HINCRBY' })
local now = now_seconds()
local history = history_at(KEYS[2], math.floor(now / 60))
local acked = in_flight(KEYS[1], cmsgpack.unpack(ARGV[2]))
zadd_all(KEYS[1], now + tonumber(ARGV[1]), acked)
history_write(history, { acked = #acked })
return #acked
