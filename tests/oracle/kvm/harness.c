/*
 * KVM oracle for `exec`: runs raw x86 machine code in a fresh KVM VM per request, starting from the
 * state issue 2 item 4 defines, and prints one JSON line per request in the shape of `lab exec`.
 *
 * Protocol (stdin → stdout), one request at a time:
 *   RUN mode=prot32|long64 load=ADDR len=L [maxexits=N] [timeout=MS] [dump=ADDR,LEN]\n
 *   then exactly L raw bytes of machine code.
 *   QUIT\n ends the process.
 * Numbers in the header are decimal or 0x-hex. Each request yields exactly one line of JSON:
 *   {"exits":[...],"end":"hlt"|"shutdown"|"limit"|"error","regs":{...}[,"dump":"hex"][,"error":"..."]}
 * A malformed request yields {"end":"error","error":"...","exits":[],"regs":{}}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#define RAM_SIZE (64ull << 20)
#define MAX_SAFE_INTEGER ((1ull << 53) - 1)

static int kvm_fd = -1;
static int vcpu_mmap_size;
static struct kvm_cpuid2 *supported_cpuid;
static struct kvm_run *volatile current_run;

/* ---- output buffer --------------------------------------------------------------------------- */

static char *out;
static size_t out_len, out_cap;

static void outf(const char *fmt, ...) {
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(out + out_len, out_cap - out_len, fmt, ap);
		va_end(ap);
		if (n < 0) return;
		if ((size_t)n < out_cap - out_len) {
			out_len += (size_t)n;
			return;
		}
		out_cap = (out_cap + (size_t)n) * 2;
		out = realloc(out, out_cap);
		if (!out) abort();
	}
}

static void out_u64(uint64_t v) {
	if (v <= MAX_SAFE_INTEGER) outf("%" PRIu64, v);
	else outf("\"%" PRIu64 "\"", v);
}

static void out_json_string(const char *s) {
	outf("\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') outf("\\%c", c);
		else if (c < 0x20) outf("\\u%04x", c);
		else outf("%c", c);
	}
	outf("\"");
}

static void flush_line(void) {
	fwrite(out, 1, out_len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	out_len = 0;
}

/* ---- timer: a SIGALRM sets immediate_exit so KVM_RUN returns EINTR ------------------------- */

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig) {
	(void)sig;
	timed_out = 1;
	struct kvm_run *r = current_run;
	if (r) r->immediate_exit = 1;
}

static void arm_timer(unsigned ms) {
	struct itimerval it = {0};
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- request --------------------------------------------------------------------------------- */

struct request {
	int long64;
	uint64_t load, len, maxexits, timeout_ms;
	int has_dump;
	uint64_t dump_addr, dump_len;
};

static int parse_num(const char *s, uint64_t *v) {
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno == 0 && end != s && (*end == 0 || *end == ',' || *end == ' ' || *end == '\n' || *end == '\r' || *end == '\t');
}

static const char *parse_header(char *line, struct request *rq) {
	memset(rq, 0, sizeof *rq);
	rq->maxexits = 100000;
	rq->timeout_ms = 2000;
	int have_mode = 0, have_load = 0, have_len = 0;
	char *save, *tok = strtok_r(line, " \t\r\n", &save);
	if (!tok || strcmp(tok, "RUN") != 0) return "expected RUN";
	while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
		char *eq = strchr(tok, '=');
		if (!eq) return "expected key=value";
		*eq = 0;
		const char *k = tok, *v = eq + 1;
		if (!strcmp(k, "mode")) {
			if (!strcmp(v, "prot32")) rq->long64 = 0;
			else if (!strcmp(v, "long64")) rq->long64 = 1;
			else return "mode must be prot32 or long64";
			have_mode = 1;
		} else if (!strcmp(k, "load")) {
			if (!parse_num(v, &rq->load)) return "bad load";
			have_load = 1;
		} else if (!strcmp(k, "len")) {
			if (!parse_num(v, &rq->len)) return "bad len";
			have_len = 1;
		} else if (!strcmp(k, "maxexits")) {
			if (!parse_num(v, &rq->maxexits)) return "bad maxexits";
		} else if (!strcmp(k, "timeout")) {
			if (!parse_num(v, &rq->timeout_ms) || rq->timeout_ms == 0) return "bad timeout";
		} else if (!strcmp(k, "dump")) {
			const char *comma = strchr(v, ',');
			if (!comma || !parse_num(v, &rq->dump_addr) || !parse_num(comma + 1, &rq->dump_len))
				return "dump must be ADDR,LEN";
			rq->has_dump = 1;
		} else {
			return "unknown key";
		}
	}
	if (!have_mode || !have_load || !have_len) return "RUN needs mode, load and len";
	if (rq->len > RAM_SIZE || rq->load > RAM_SIZE - rq->len) return "program does not fit in RAM";
	if (rq->has_dump && (rq->dump_len > RAM_SIZE || rq->dump_addr > RAM_SIZE - rq->dump_len))
		return "dump outside RAM";
	return NULL;
}

/* ---- vCPU start state (issue 2 item 4) ------------------------------------------------------ */

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, int code, int long64) {
	memset(s, 0, sizeof *s);
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->s = 1;
	s->g = 1;
	s->l = code && long64;
	s->db = !(code && long64);
}

static const char *set_start_state(int vcpu_fd, const struct request *rq) {
	struct kvm_sregs sr;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sr) < 0) return "KVM_GET_SREGS";
	/* Code segment type 11: execute/read, accessed. Data type 3: read/write, accessed (SDM Vol. 3 3.4.5.1). */
	flat_segment(&sr.cs, 8, 11, 1, rq->long64);
	flat_segment(&sr.ds, 16, 3, 0, rq->long64);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	/* TR: selector 0, but a present busy 32/64-bit TSS (type 11) so VM entry accepts it. */
	memset(&sr.tr, 0, sizeof sr.tr);
	sr.tr.type = 11;
	sr.tr.present = 1;
	sr.tr.limit = 0xffff;
	/* LDTR: selector 0, unusable. */
	memset(&sr.ldt, 0, sizeof sr.ldt);
	sr.ldt.type = 2;
	sr.ldt.unusable = 1;
	sr.gdt.base = 0;
	sr.gdt.limit = 0xffff;
	sr.idt.base = 0;
	sr.idt.limit = 0xffff;
	sr.cr2 = 0;
	memset(sr.interrupt_bitmap, 0, sizeof sr.interrupt_bitmap);
	if (rq->long64) {
		sr.cr0 = 0x80010001; /* PG, WP, PE */
		sr.cr3 = 0x1000;
		sr.cr4 = 0x20;       /* PAE */
		sr.efer = 0x500;     /* LME, LMA */
	} else {
		sr.cr0 = 0x60000011; /* CD, NW, ET, PE */
		sr.cr3 = 0;
		sr.cr4 = 0;
		sr.efer = 0;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sr) < 0) return "KVM_SET_SREGS";

	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rip = rq->load;
	r.rsp = 0x80000;
	r.rflags = 2;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0) return "KVM_SET_REGS";
	return NULL;
}

static void write_page_tables(uint8_t *ram) {
	uint64_t *pml4 = (uint64_t *)(ram + 0x1000);
	uint64_t *pdpt = (uint64_t *)(ram + 0x2000);
	uint64_t *pd = (uint64_t *)(ram + 0x3000);
	pml4[0] = 0x2003;
	pdpt[0] = 0x3003;
	for (uint64_t i = 0; i < 512; i++) pd[i] = (i << 21) | 0x83; /* P, R/W, PS: 2 MiB page */
}

/* ---- exits ----------------------------------------------------------------------------------- */

static unsigned long exit_count;

static void record_sep(void) {
	if (exit_count++) outf(",");
}

static void record_io(struct kvm_run *run) {
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;
	for (unsigned i = 0; i < run->io.count; i++) {
		uint8_t *p = data + (size_t)i * size;
		uint64_t v = 0;
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&v, p, size);
		} else {
			memset(p, 0xff, size);
		}
		record_sep();
		outf("{\"kind\":\"io\",\"dir\":\"%s\",\"port\":%u,\"size\":%u,\"value\":",
		     run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.port, size);
		out_u64(v);
		outf("}");
	}
}

static void record_mmio(struct kvm_run *run) {
	uint64_t v = 0;
	unsigned len = run->mmio.len;
	if (run->mmio.is_write) {
		memcpy(&v, run->mmio.data, len > 8 ? 8 : len);
	} else {
		memset(run->mmio.data, 0xff, sizeof run->mmio.data);
	}
	record_sep();
	outf("{\"kind\":\"mmio\",\"dir\":\"%s\",\"gpa\":", run->mmio.is_write ? "write" : "read");
	out_u64(run->mmio.phys_addr);
	outf(",\"size\":%u,\"value\":", len);
	out_u64(v);
	outf("}");
}

static void out_regs(int vcpu_fd) {
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		outf("{}");
		return;
	}
	const struct { const char *name; uint64_t v; } regs[] = {
		{"rax", r.rax}, {"rbx", r.rbx}, {"rcx", r.rcx}, {"rdx", r.rdx},
		{"rsi", r.rsi}, {"rdi", r.rdi}, {"rsp", r.rsp}, {"rbp", r.rbp},
		{"r8", r.r8}, {"r9", r.r9}, {"r10", r.r10}, {"r11", r.r11},
		{"r12", r.r12}, {"r13", r.r13}, {"r14", r.r14}, {"r15", r.r15},
		{"rip", r.rip}, {"rflags", r.rflags}, {"cr0", s.cr0}, {"cr3", s.cr3}, {"cr4", s.cr4},
	};
	outf("{");
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
		outf("%s\"%s\":", i ? "," : "", regs[i].name);
		out_u64(regs[i].v);
	}
	outf("}");
}

/* ---- one run ---------------------------------------------------------------------------------- */

static void error_line(const char *msg) {
	out_len = 0;
	outf("{\"exits\":[],\"end\":\"error\",\"regs\":{},\"error\":");
	out_json_string(msg);
	outf("}");
	flush_line();
}

static void run_request(const struct request *rq, const uint8_t *code) {
	char err[512] = "";
	int vm_fd = -1, vcpu_fd = -1;
	uint8_t *ram = MAP_FAILED;
	struct kvm_run *run = MAP_FAILED;
	const char *fail = NULL;

	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd < 0) { fail = "KVM_CREATE_VM"; goto setup_failed; }
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED) { fail = "mmap RAM"; goto setup_failed; }
	memcpy(ram + rq->load, code, rq->len);
	if (rq->long64) write_page_tables(ram);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .flags = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)ram,
	};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) { fail = "KVM_SET_USER_MEMORY_REGION"; goto setup_failed; }
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu_fd < 0) { fail = "KVM_CREATE_VCPU"; goto setup_failed; }
	run = mmap(NULL, (size_t)vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED) { fail = "mmap kvm_run"; goto setup_failed; }
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, supported_cpuid) < 0) { fail = "KVM_SET_CPUID2"; goto setup_failed; }
	fail = set_start_state(vcpu_fd, rq);
	if (fail) goto setup_failed;

	out_len = 0;
	exit_count = 0;
	outf("{\"exits\":[");
	const char *end = NULL;
	int pending_completion = 0;
	unsigned long runs = 0;

	timed_out = 0;
	run->immediate_exit = 0;
	current_run = run;
	arm_timer((unsigned)rq->timeout_ms);
	while (!end) {
		if (runs++ >= rq->maxexits) { end = "limit"; break; }
		int rc = ioctl(vcpu_fd, KVM_RUN, 0);
		pending_completion = 0;
		if (rc < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				if (timed_out) { end = "limit"; break; }
				continue;
			}
			snprintf(err, sizeof err, "KVM_RUN: %s", strerror(errno));
			end = "error";
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			record_io(run);
			pending_completion = run->io.direction == KVM_EXIT_IO_IN;
			break;
		case KVM_EXIT_MMIO:
			record_mmio(run);
			pending_completion = !run->mmio.is_write;
			break;
		case KVM_EXIT_HLT:
			end = "hlt";
			break;
		case KVM_EXIT_SHUTDOWN:
			end = "shutdown";
			break;
		case KVM_EXIT_INTR:
			if (timed_out) end = "limit";
			break;
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(err, sizeof err, "KVM_EXIT_FAIL_ENTRY: hardware_entry_failure_reason=0x%llx",
			         (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			end = "error";
			break;
		case KVM_EXIT_INTERNAL_ERROR: {
			int n = snprintf(err, sizeof err, "KVM_EXIT_INTERNAL_ERROR: suberror=%u",
			                 run->internal.suberror);
			for (unsigned i = 0; i < run->internal.ndata && i < 16 && n > 0 && (size_t)n < sizeof err; i++)
				n += snprintf(err + n, sizeof err - (size_t)n, "%s0x%llx", i ? "," : " data=",
				              (unsigned long long)run->internal.data[i]);
			end = "error";
			break;
		}
		default:
			snprintf(err, sizeof err, "unexpected exit_reason %u", run->exit_reason);
			end = "error";
			break;
		}
	}
	arm_timer(0);
	current_run = NULL;
	if (pending_completion) {
		/* Let KVM finish the pending IN or MMIO read so the registers reflect it (KVM API doc, KVM_RUN). */
		run->immediate_exit = 1;
		ioctl(vcpu_fd, KVM_RUN, 0);
	}
	outf("],\"end\":\"%s\",\"regs\":", end);
	out_regs(vcpu_fd);
	if (rq->has_dump) {
		outf(",\"dump\":\"");
		for (uint64_t i = 0; i < rq->dump_len; i++) outf("%02x", ram[rq->dump_addr + i]);
		outf("\"");
	}
	if (err[0]) {
		outf(",\"error\":");
		out_json_string(err);
	}
	outf("}");
	flush_line();
	goto cleanup;

setup_failed:
	snprintf(err, sizeof err, "%s: %s", fail, strerror(errno));
	error_line(err);
cleanup:
	if (run != MAP_FAILED) munmap(run, (size_t)vcpu_mmap_size);
	if (vcpu_fd >= 0) close(vcpu_fd);
	if (vm_fd >= 0) close(vm_fd);
	if (ram != MAP_FAILED) munmap(ram, RAM_SIZE);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int read_exact(uint8_t *buf, size_t n) {
	size_t got = 0;
	while (got < n) {
		size_t k = fread(buf + got, 1, n - got, stdin);
		if (k == 0) return -1;
		got += k;
	}
	return 0;
}

int main(void) {
	out_cap = 1 << 16;
	out = malloc(out_cap);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		fprintf(stdout, "{\"ready\":false,\"error\":\"open /dev/kvm: %s\"}\n", strerror(errno));
		return 1;
	}
	int api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		fprintf(stdout, "{\"ready\":false,\"error\":\"KVM API version %d\"}\n", api);
		return 1;
	}
	vcpu_mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu_mmap_size <= 0) {
		fprintf(stdout, "{\"ready\":false,\"error\":\"KVM_GET_VCPU_MMAP_SIZE failed\"}\n");
		return 1;
	}
	for (int nent = 64;; nent *= 2) {
		supported_cpuid = calloc(1, sizeof *supported_cpuid + (size_t)nent * sizeof(struct kvm_cpuid_entry2));
		supported_cpuid->nent = (uint32_t)nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, supported_cpuid) == 0) break;
		free(supported_cpuid);
		if (errno != E2BIG || nent > 4096) {
			fprintf(stdout, "{\"ready\":false,\"error\":\"KVM_GET_SUPPORTED_CPUID: %s\"}\n", strerror(errno));
			return 1;
		}
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigaction(SIGALRM, &sa, NULL);

	fprintf(stdout, "{\"ready\":true}\n");
	fflush(stdout);

	char line[1024];
	while (fgets(line, sizeof line, stdin)) {
		if (!strncmp(line, "QUIT", 4)) break;
		if (line[0] == '\n') continue;
		struct request rq;
		uint64_t skip = 0;
		const char *len_at = strstr(line, " len=");
		int skippable = len_at && parse_num(len_at + 5, &skip) && skip <= RAM_SIZE;
		const char *bad = parse_header(line, &rq);
		if (bad) {
			/* Consume the payload the header announced so the stream stays in step. */
			if (skippable) {
				uint8_t *junk = malloc(skip ? skip : 1);
				int eof = read_exact(junk, skip) < 0;
				free(junk);
				if (eof) break;
			}
			error_line(bad);
			continue;
		}
		uint8_t *code = malloc(rq.len ? rq.len : 1);
		if (read_exact(code, rq.len) < 0) {
			free(code);
			break;
		}
		run_request(&rq, code);
		free(code);
	}
	return 0;
}
