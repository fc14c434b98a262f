--[[
  Adds items at the end of the queue (the left of the list), in their order.

  Input:
    KEYS[1] queue list
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were added
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/push"

ready({ 'LPUSH' })
local items = cmsgpack.unpack(ARGV[1])
push_all('LPUSH', KEYS[1], items)
return #items
