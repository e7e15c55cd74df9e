/* DOC: vr_proto.c — names of the protocol's enumerations, from the X-macros. */
#include "vr_proto.h"

#define VR_DROP_NAME_(name, text) #name,
#define VR_DROP_TEXT_(name, text) text,
static const char *const drop_names[] = { VR_DROP_REASONS(VR_DROP_NAME_) };
static const char *const drop_texts[] = { VR_DROP_REASONS(VR_DROP_TEXT_) };

const char *vr_drop_name(unsigned reason)
{
	return reason < VR_DROP_MAX_ ? drop_names[reason] : NULL;
}

const char *vr_drop_text(unsigned reason)
{
	return reason < VR_DROP_MAX_ ? drop_texts[reason] : NULL;
}
