--[[
  Deletes a batch of items from the queue, each as LREM would.

  Input:
    KEYS[1] queue list
    ARGV[1] occurrences to delete per item, as LREM's count (0: every one,
            > 0: the newest first, < 0: the oldest first)
    ARGV[2] the items, packed: a msgpack array of strings

  Output:
    how many occurrences were deleted
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/list_remove"

ready({ 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH' })
local _, removed = list_remove(KEYS[1], cmsgpack.unpack(ARGV[2]), tonumber(ARGV[1]))
return removed
