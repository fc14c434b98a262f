--[[
  Deletes a batch of items from a UniqueQueue, waiting or delayed.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue (delayed ones included)
    KEYS[3] delayed items (sorted set: item -> due unix time in ms)
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were deleted
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/list_remove"

ready({ 'TYPE', 'SREM', 'ZREM', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH' })
check_types({ KEYS[1], 'list', KEYS[3], 'zset' })
local waiting, removed = {}, 0
for _, item in ipairs(cmsgpack.unpack(ARGV[1])) do
  if rcall('SREM', KEYS[2], item) == 1 then
    if rcall('ZREM', KEYS[3], item) == 1 then
      removed = removed + 1
    else
      waiting[#waiting + 1] = item
    end
  end
end
local _, listed = list_remove(KEYS[1], waiting, 1)
return removed + listed
