--[[
  UniqueQueue's reject: as queue_reject, but an item that is already waiting in
  the queue again is not queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] this consumer's processing list
    KEYS[4] timeouts hash
    KEYS[5] deliveries hash (item -> failed deliveries)
    KEYS[6] dead-letter list
    ARGV[1] max_deliveries; 0: no dead letters
    ARGV[2] the items, packed: a msgpack array of strings

  Output:
    how many items went to the dead-letter list
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/reject"

ready({ 'TYPE', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH', 'EXISTS', 'HDEL', 'HINCRBY', 'SADD' })
check_types({ KEYS[1], 'list', KEYS[2], 'set', KEYS[3], 'list', KEYS[4], 'hash', KEYS[5], 'hash',
    KEYS[6], 'list' })
return reject(KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[1]),
  cmsgpack.unpack(ARGV[2]), function(items)
    local back = {}
    for _, item in ipairs(items) do
      if rcall('SADD', KEYS[2], item) == 1 then
        back[#back + 1] = item
      end
    end
    return back
  end)
