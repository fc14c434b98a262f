--[[
  Deletes a batch of items from a UniqueQueue, waiting (in the list or at a level
  of their own) or delayed; their levels are forgotten.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue (delayed ones included)
    KEYS[3] delayed items (sorted set: item -> due unix time in ms)
    KEYS[4] prioritised items waiting (sorted set, includes/priority)
    KEYS[5] levels hash (item -> level, includes/priority)
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were deleted
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/list_remove"

ready({ 'TYPE', 'SREM', 'ZREM', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH', 'HDEL' })
check_types({ KEYS[1], 'list', KEYS[3], 'zset', KEYS[4], 'zset', KEYS[5], 'hash' })
local waiting, removed = {}, 0
for _, item in ipairs(cmsgpack.unpack(ARGV[1])) do
  if rcall('SREM', KEYS[2], item) == 1 then
    if rcall('ZREM', KEYS[3], item) == 1 or rcall('ZREM', KEYS[4], item) == 1 then
      removed = removed + 1
    else
      waiting[#waiting + 1] = item
    end
    rcall('HDEL', KEYS[5], item)
  end
end
local _, listed = list_remove(KEYS[1], waiting, 1)
return removed + listed
