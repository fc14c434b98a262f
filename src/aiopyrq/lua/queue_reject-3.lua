--[[
  Rejects a batch: the items still held in the processing list go back to the
  front of the queue, in the batch's order (ARGV[1] is taken next).

  Input:
    KEYS[1] queue list
    KEYS[2] this consumer's processing list
    KEYS[3] timeouts hash
    ARGV    the items

  Output:
    how many items went back to the queue
]]
local rcall = redis.call
--- @include "includes/list_remove"
--- @include "includes/lease"

local taken = list_remove(KEYS[2], ARGV, -1)
local back = {}
for i = #taken, 1, -1 do
  back[#back + 1] = taken[i]
end
push_all('RPUSH', KEYS[1], back)
release_if_empty(KEYS[3], KEYS[2])
return #back
