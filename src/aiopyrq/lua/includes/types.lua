--[[
  Checks the type of keys that a script writes after its first write, and does
  not read before it (see includes/ready): a key that exists with another type
  fails the script with "WRONGTYPE aiopyrq: KEY is a T, not a U".
]]

-- types: key, type, key, type ...
local function check_types(types)
  for i = 1, #types, 2 do
    local found = rcall('TYPE', types[i])['ok']
    if found ~= 'none' and found ~= types[i + 1] then
      error({ err = 'WRONGTYPE aiopyrq: ' .. types[i] .. ' is a ' .. found .. ', not a ' .. types[i + 1] })
    end
  end
end
