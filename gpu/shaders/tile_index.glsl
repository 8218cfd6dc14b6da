// Shared by the per-tile shaders: one workgroup per listed tile; the list may be longer than
// one dispatch dimension allows, so the host spreads it over x and y.
uint listed_tile() {
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}
