--[[
  Adds items to the delayed items of a Queue, due ARGV[1] milliseconds from now
  by the server's clock, in their order. Each is a member of its own (a prefix
  from the call's key, call_key of lua/wrap/once.lua, and its place in the
  call), so that the same item delayed twice comes out twice. The history
  counts them as added now.

  Input:
    KEYS[1] delayed items (sorted set: prefixed item -> due unix time in ms)
    KEYS[2] queue list (read only: the items waiting, for the history)
    KEYS[3] history hash (includes/history)
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

ready({ 'TIME', 'HGET', 'LLEN', 'ZADD', 'HSET', 'PEXPIRE' })
local history = history_read(KEYS[3])
local waiting = rcall('LLEN', KEYS[2])
local items = cmsgpack.unpack(ARGV[2])
delay_all(KEYS[1], now_ms() + tonumber(ARGV[1]), delayed_members(items, call_key))
history_write(history, { added = #items }, waiting)
return #items
