--[[
  Adds items to the delayed items of a Queue, due ARGV[1] milliseconds from now
  by the server's clock, in their order. Each is a member of its own (a prefix
  from the call's key, call_key of lua/wrap/once.lua, and its place in the
  call), so that the same item delayed twice comes out twice.

  Input:
    KEYS[1] delayed items (sorted set: prefixed item -> due unix time in ms)
    KEYS[2] history hash (includes/history): the items count as added now
    ARGV[1] delay in milliseconds, >= 1
    ARGV[2] the items, packed: a msgpack array of strings

  Output:
    how many items were delayed
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"
--- @include "includes/delayed"
--- @include "includes/history"

ready({ 'TIME', 'HLEN', 'ZRANGE', 'ZADD', 'HSET', 'PEXPIRE', 'HINCRBY' })
local now = now_ms()
local history = history_at(KEYS[2], math.floor(now / 60000))
local items = cmsgpack.unpack(ARGV[2])
delay_all(KEYS[1], now + tonumber(ARGV[1]), delayed_members(items, call_key))
history_write(history, { added = #items })
return #items
