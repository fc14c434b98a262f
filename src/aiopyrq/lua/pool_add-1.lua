--[[
  Adds items to a Pool, due now (an item already in the pool becomes due now).

  Input:
    KEYS[1] pool sorted set (item -> unix time it is due)
    ARGV    the items

  Output:
    how many items were new to the pool
]]
local rcall = redis.call
--- @include "includes/now"
--- @include "includes/zadd"

return zadd_all(KEYS[1], now_seconds(), ARGV)
