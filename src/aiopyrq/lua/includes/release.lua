--[[
  A consumer's lease lasts while its processing list holds items.
]]

-- Drops the lease of a processing list that holds nothing any more.
local function release_if_empty(timeouts, processing)
  if rcall('EXISTS', processing) == 0 then
    rcall('HDEL', timeouts, processing)
  end
end
