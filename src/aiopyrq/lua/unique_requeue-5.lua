--[[
  UniqueQueue's requeue of dead letters: as queue_requeue, but an item that is
  waiting in the queue already is not queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] dead-letter list
    KEYS[4] deliveries hash
    KEYS[5] dead-letter records hash
    ARGV[1] the dead items to move, each once, packed: a msgpack array of
            strings; an empty array: every dead item

  Output:
    how many items were queued
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/requeue"

ready({ 'TYPE', 'HLEN', 'LRANGE', 'DEL', 'LREM', 'LPUSH', 'RPUSH', 'HDEL', 'SADD',
  'LPOS' })
check_types({ KEYS[1], 'list', KEYS[2], 'set', KEYS[5], 'hash' })
return requeue(KEYS[3], KEYS[4], KEYS[5], cmsgpack.unpack(ARGV[1]), function(items)
  local added = {}
  for _, item in ipairs(items) do
    if rcall('SADD', KEYS[2], item) == 1 then
      added[#added + 1] = item
    end
  end
  push_all('LPUSH', KEYS[1], added)
  return #added
end)
