--[[
  Deletes a batch of items from a UniqueQueue.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were deleted
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/list_remove"

ready({ 'TYPE', 'SREM', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH' })
check_types({ KEYS[1], 'list' })
local waiting = {}
for _, item in ipairs(cmsgpack.unpack(ARGV[1])) do
  if rcall('SREM', KEYS[2], item) == 1 then
    waiting[#waiting + 1] = item
  end
end
local _, removed = list_remove(KEYS[1], waiting, 1)
return removed
