--[[
  When the next delayed item is due (see includes/due): a read.
]]

-- Milliseconds until the next delayed item is due; -1 when none waits.
local function next_due(delayed, now)
  local first = rcall('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  if #first == 0 then
    return -1
  end
  return math.max(0, tonumber(first[2]) - now)
end
