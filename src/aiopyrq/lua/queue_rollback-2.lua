--[[
  Counts one rollback of an item, for can_rollback_item.

  Input:
    KEYS[1] retry count hash (item -> rollbacks counted)
    KEYS[2] retry timeout hash (item -> unix minute of the first one counted)
    ARGV[1] the item

  Output:
    {rollbacks counted, minute of the first, minute now}
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/now"

ready({ 'TYPE', 'TIME', 'HINCRBY', 'HSET', 'HSETNX', 'HGET' })
check_types({ KEYS[2], 'hash' })
local minute = math.floor(now_seconds() / 60)
local count = rcall('HINCRBY', KEYS[1], ARGV[1], 1)
if count == 1 then
  rcall('HSET', KEYS[2], ARGV[1], minute)
else
  rcall('HSETNX', KEYS[2], ARGV[1], minute)
end
return {count, tonumber(rcall('HGET', KEYS[2], ARGV[1])), minute}
