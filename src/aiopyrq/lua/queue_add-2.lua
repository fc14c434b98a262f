--[[
  Adds items at the end of the queue (the left of the list), in their order.

  Input:
    KEYS[1] queue list
    KEYS[2] history hash (includes/history)
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were added
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/push"
--- @include "includes/history"

ready({ 'TIME', 'HLEN', 'LPUSH', 'HSET', 'PEXPIRE', 'HINCRBY' })
local history = history_read(KEYS[2])
local items = cmsgpack.unpack(ARGV[1])
local waiting = push_all('LPUSH', KEYS[1], items)
history_write(history, { added = #items }, waiting)
return #items
