--[[
  Adds a batch to a UniqueQueue: an item already waiting is not added again.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were added
]]
local rcall = redis.call
--- @include "includes/push"

local added = {}
for _, item in ipairs(cmsgpack.unpack(ARGV[1])) do
  if rcall('SADD', KEYS[2], item) == 1 then
    added[#added + 1] = item
  end
end
push_all('LPUSH', KEYS[1], added)
return #added
