/* SPDX-License-Identifier: MIT */
/*
 * entry_parse() on arbitrary text: never crashes, and what it accepts is a
 * sane entry (type M or E, magic within bounds, mask absent or as long as
 * the magic, normalized flags, an interpreter). When such an entry can be
 * formatted, the register string goes through the kernel model and the
 * kernel's entry file back into entry_parse, and must come out the same
 * (parse -> format -> parse). The consumers of parsed entries (matching,
 * status JSON, describing differences) must take whatever parses.
 *
 * Input: the entry's name, a newline, then the file's text.
 */
#include <errno.h>
#include <string.h>

#include "entry.h"
#include "fuzz.h"
#include "kmodel.h"
#include "plan.h"
#include "status.h"
#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size), *nl = strchr(s, '\n'), flags[8];
	static struct binfmt_entry e, back;
	static char reg[ENTRY_REGISTER_MAX + 2], page[8 * 4096], diff[64];
	const char *name = nl ? s : "x", *text = nl ? nl + 1 : s;
	struct kmodel_entry k;
	int r;

	if (nl)
		*nl = '\0';
	r = entry_parse(name, text, &e);
	CHECK(r == 0 || r == -EINVAL, "entry_parse returned %d", r);
	if (r < 0)
		goto out;
	CHECK(!strcmp(e.name, name), "name '%s' became '%s'", name, e.name);
	CHECK(e.type == 'M' || e.type == 'E', "type %d", e.type);
	CHECK(e.interpreter[0], "empty interpreter accepted");
	CHECK(e.magic_len <= ENTRY_MAGIC_MAX && e.mask_len <= ENTRY_MAGIC_MAX, "magic/mask beyond the struct");
	if (e.type == 'M')
		CHECK(e.magic_len > 0 && (e.mask_len == 0 || e.mask_len == e.magic_len), "bad magic/mask lengths %zu/%zu",
		      e.magic_len, e.mask_len);
	CHECK(entry_flags_normalize(e.flags, flags) == 0 && !strcmp(flags, e.flags), "flags '%s' not normalized",
	      e.flags);

	/* Consumers of parsed entries. */
	(void)plan_target_of_entry(&e);
	(void)plan_is_qemu_entry(&e, "pre-");
	CHECK(entry_same(&e, &e), "an entry differs from itself");
	entry_describe_difference(&e, &e, diff, sizeof(diff));
	{
		json_t *j = status_json(target_by_cpu("x86_64"), &e, 1, "");
		char *out = j ? status_dump(j) : NULL;
		json_decref(j);
		free(out);
	}

	/* parse -> format -> (kernel) -> parse */
	r = entry_format_register(&e, reg, sizeof(reg));
	CHECK(r >= 0 || r == -EINVAL || r == -ENAMETOOLONG, "entry_format_register returned %d", r);
	if (r < 0)
		goto out;
	CHECK(kmodel_register(reg, (size_t)r, &k) == 0, "the kernel would refuse '%s'", reg);
	kmodel_entry_text(&k, e.enabled, page, sizeof(page));
	CHECK(entry_parse(name, page, &back) == 0, "the kernel's text of a parsed entry does not parse:\n%s", page);
	CHECK(entry_same(&e, &back) && e.enabled == back.enabled, "parse -> format -> parse changed the entry:\n%s\n--\n%s",
	      text, page);
	CHECK(e.type != 'E' || !strcmp(e.extension, back.extension), "extension changed");
	entry_describe_difference(&e, &back, diff, sizeof(diff));
	CHECK(!strcmp(diff, "identical"), "described as '%s'", diff);
out:
	free(s);
	return 0;
}
