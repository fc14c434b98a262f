--[[
  UniqueQueue's reject: as queue_reject, but an item that is already waiting in
  the queue again is not queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] this consumer's processing list
    KEYS[4] timeouts hash
    ARGV    the items

  Output:
    how many items went back to the queue
]]
local rcall = redis.call
--- @include "includes/list_remove"
--- @include "includes/lease"

local taken = list_remove(KEYS[3], ARGV, -1)
local back = {}
for i = #taken, 1, -1 do
  if rcall('SADD', KEYS[2], taken[i]) == 1 then
    back[#back + 1] = taken[i]
  end
end
push_all('RPUSH', KEYS[1], back)
release_if_empty(KEYS[4], KEYS[3])
return #back
