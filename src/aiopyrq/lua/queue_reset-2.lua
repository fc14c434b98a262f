--[[
  Forgets the rollbacks counted for an item (reset_blocked_item).

  Input:
    KEYS[1] retry count hash (item -> rollbacks counted)
    KEYS[2] retry timeout hash (item -> unix minute of the first one counted)
    ARGV[1] the item

  Output:
    how many of the two fields existed
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"

ready({ 'TYPE', 'HDEL' })
check_types({ KEYS[2], 'hash' })
return rcall('HDEL', KEYS[1], ARGV[1]) + rcall('HDEL', KEYS[2], ARGV[1])
