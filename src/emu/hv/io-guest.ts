/**
 * The guest side of issue 8's comparison: one task, "send N frames and receive them back", written
 * as real 32-bit guest drivers for the lab's assembler, run by a VM of the multi-VM host (host.ts)
 * that was given its network card one of three ways (devio.ts). The network card driver is the
 * same code whether the card is emulated or assigned; the virtio-net driver is the paravirtual
 * one. Both find their device on bus 0 by its IDs, place its BAR, turn on bus mastering, make the
 * frames themselves (so that nothing but the driver touches guest memory), send them with the
 * device looping each frame back, and copy every received frame out of its receive buffer into
 * OUT, its length into OUTLEN, counting them at RECEIVED: the data delivered to the guest, which
 * the tests compare across the three ways.
 *
 * Guest-physical layout (an 8-MiB VM, the exec start state: prot32, flat, no paging):
 *   0x100000 code; 0x600 results; 0x200000 TX ring; 0x201000 RX ring; 0x210000 the frames (2 KiB
 *   each, up to IO_MAX_FRAMES: to 0x250000); 0x250000 OUT (2 KiB per frame received, to 0x290000);
 *   0x290000 receive buffers (8 of 2 KiB); 0x294000 OUTLEN; 0x295000 the virtio headers (16 bytes
 *   a slot, transmit then receive). The virtio driver's queues: receive at 0x200000, transmit at
 *   0x202000 (each a descriptor table and available ring in one page, the used ring in the next);
 *   its I/O BAR at port IO_PORTS.
 */
import { CMD } from '../dev/pci.ts';
import { DESCRIPTOR_POINTERS, findAndPlaceBar0, gdtAndMsiGate, msiSetup, nvmeSubmit, setCommand } from '../dev/pci-guest.ts';
import { DESC_SIZE, ICR, NIC_DEVICE, NIC_REG, NIC_VENDOR, RCTL, RX_STA, TCTL, TX_CMD, TX_STA } from '../dev/nic.ts';
import { ADMIN, CC, CSTS, cqHeadDoorbell, NVM, NVME_DEVICE, NVME_REG, NVME_VENDOR, sqTailDoorbell } from '../dev/nvme.ts';
import { BLK_HDR_BYTES, VIRTIO_BLK_DEVICE, VIRTIO_BLK_T } from '../dev/virtio-blk.ts';
import { NET_HDR_BYTES, queueLayout, VIRTIO_NET_DEVICE, VIRTIO_NET_F_MAC, VIRTIO_REG, VIRTIO_STATUS, VIRTIO_VENDOR, VIRTQ_DESC } from '../dev/virtio-net.ts';

export const IO_LOAD = 0x100000;
export const IO_RESULT = 0x600;
/** Frames received so far (a dword). */
export const IO_RECEIVED = IO_RESULT + 0x48;
/** With interrupts: the card's interrupts the driver's handler took (a dword). */
export const IO_IRQS = IO_RESULT + 0x50;
/** The vector the interrupt-driven network driver gives its card's MSI. */
export const IO_IRQ_VECTOR = 0x41;
export const IO_FRAMES = 0x210000;
export const IO_OUT = 0x250000;
export const IO_OUTLEN = 0x294000;
export const IO_SLOT = 0x800;
/** Guest-physical address the drivers place the device's BAR0 at (outside the VM's RAM: MMIO). */
export const IO_BAR = 0xe0000000;
/** The I/O port the virtio driver places its device's BAR0 (32 bytes of legacy registers) at. */
export const IO_PORTS = 0xc000;
/** Frames the virtio driver puts in the transmit queue before one notification (each a chain of two descriptors). */
export const VIRTIO_BATCH = 8;
/** The virtqueue size the virtio driver expects (it checks QUEUE_SIZE): two descriptors per frame, 8 frames. */
export const VIRTIO_QUEUE = 16;
/** At most this many frames (OUT holds 2 KiB each up to 0x290000). */
export const IO_MAX_FRAMES = 128;
const TXR = 0x200000;
const RXR = 0x201000;
const RXB = 0x290000;
/** The virtio driver's 10-byte headers, 16 bytes a slot: transmit slots 0..7, then receive slots 0..7. */
const HDRS = 0x295000;
const RING = 8;
const VARS = IO_RESULT + 0x40; // +0 next TX slot, +4 next RX slot (virtio: RX avail idx), +8 received (IO_RECEIVED), +12 virtio: RX used seen
const VQ_RX = 0x200000;
const VQ_TX = 0x202000;

/** Frame k's length: 64 .. 574 bytes, different from frame to frame. */
export function frameLength(k: number): number {
  return 64 + ((k * 97) % 511);
}

/** Byte i of frame k. */
export function frameByte(k: number, i: number): number {
  return (k * 31 + i * 7 + (i >> 8)) & 0xff;
}

/** Guest code: fills frame k (EBX) at IO_FRAMES + k × IO_SLOT with its bytes; its length in EBP. Clobbers EAX, ECX, EDX, EDI. */
const makeFrame = `; frame EBX: length 64 + (EBX*97 mod 511) into EBP, bytes (EBX*31 + i*7 + (i >> 8)) & 0xff
make_frame:
  mov eax, ebx
  imul eax, eax, 97
  xor edx, edx
  mov ecx, 511
  div ecx
  lea ebp, [edx + 64]
  mov edi, ebx
  shl edi, 11
  add edi, ${IO_FRAMES}
  xor ecx, ecx
mf_loop:
  mov eax, ebx
  imul eax, eax, 31
  lea edx, [ecx*8]
  sub edx, ecx
  add eax, edx
  mov edx, ecx
  shr edx, 8
  add eax, edx
  mov [edi + ecx], al
  inc ecx
  cmp ecx, ebp
  jb mf_loop
  ret
`;

function checkFrames(frames: number): void {
  if (!Number.isInteger(frames) || frames < 1 || frames > IO_MAX_FRAMES) throw new RangeError(`frames ${frames}: 1..${IO_MAX_FRAMES}`);
}

/**
 * What a hostile driver does with its card's DMA (the same driver otherwise): `steal` is a
 * guest-physical address outside the VM's RAM that the last frame's transmit descriptor points at
 * instead of the frame (the card reads it and, looping back, hands it to the guest); `plant` one
 * that receive slot 0's buffer points at (the first frame received is written there).
 */
export interface NicAttack {
  steal?: number;
  plant?: number;
  /**
   * Wait for the card's interrupt instead of looking at the descriptors at once: the driver gives
   * the card's MSI vector IO_IRQ_VECTOR (destination APIC ID 0, fixed, edge; 0x500 GDT, 0x800 IDT),
   * unmasks the receive cause (IMS RXT0) and, after each TDT write, waits with interrupts on until
   * its handler has counted one more interrupt: the handler reads ICR (which clears the cause, as an
   * 8254x driver's must), counts it at IO_IRQS and ends it with an EOI, WRMSR of 0 to the x2APIC EOI
   * register 80BH. `'hlt'`: it waits halted instead of spinning, with the safe-halt idiom (CLI,
   * check the count, STI; HLT: the interrupt cannot slip in between the check and the halt).
   */
  irq?: boolean | 'hlt';
}

/**
 * The network card's driver (dev/nic.ts, an 8254x-style card) for `frames` frames: 8-slot rings,
 * MAC loopback; for each frame it fills a transmit descriptor and writes TDT (one register write
 * per frame, as the 8254x's basic transmit model does), then takes every finished receive
 * descriptor (DD in memory), copies the frame out and gives the slots back with one RDT write.
 * It never reads a register after set-up: completion is seen in the descriptors in memory.
 */
export function nicDriver(frames: number, attack: NicAttack = {}): string {
  checkFrames(frames);
  const steal = attack.steal === undefined ? '' : `  cmp ebx, ${frames - 1}
  jne tx_own
  mov edx, ${attack.steal}
tx_own:
`;
  const irq = attack.irq === true || attack.irq === 'hlt';
  const wait =
    attack.irq === 'hlt'
      ? `wait_irq:
  cli
  cmp dword [${IO_IRQS}], ebx
  ja irq_seen
  sti
  hlt
  jmp wait_irq
irq_seen:
  sti
`
      : `wait_irq:
  cmp dword [${IO_IRQS}], ebx
  jbe wait_irq
`;
  return `bits 32
org ${IO_LOAD}
${irq ? gdtAndMsiGate(IO_IRQ_VECTOR) : ''}${findAndPlaceBar0(NIC_VENDOR, NIC_DEVICE, IO_RESULT, IO_BAR)}
${irq ? `${msiSetup(IO_IRQ_VECTOR, IO_RESULT + 0x54)}
` : ''}${setCommand(CMD.MEMORY | CMD.BUS_MASTER)}  mov edi, ${IO_BAR}
  ; the receive ring: descriptor i holds buffer RXB + i*2K
  xor ecx, ecx
rx_init:
  mov eax, ecx
  shl eax, 4
  add eax, ${RXR}
  mov edx, ecx
  shl edx, 11
  add edx, ${RXB}
  mov [eax], edx
  mov dword [eax + 4], 0
  mov dword [eax + 8], 0
  mov dword [eax + 12], 0
  inc ecx
  cmp ecx, ${RING}
  jb rx_init
${attack.plant === undefined ? '' : `  mov dword [${RXR}], ${attack.plant}
`}
  mov dword [edi + ${NIC_REG.RDBAL}], ${RXR}
  mov dword [edi + ${NIC_REG.RDBAH}], 0
  mov dword [edi + ${NIC_REG.RDLEN}], ${RING * DESC_SIZE}
  mov dword [edi + ${NIC_REG.RDH}], 0
  mov dword [edi + ${NIC_REG.RDT}], ${RING - 1}
  mov dword [edi + ${NIC_REG.TDBAL}], ${TXR}
  mov dword [edi + ${NIC_REG.TDBAH}], 0
  mov dword [edi + ${NIC_REG.TDLEN}], ${RING * DESC_SIZE}
  mov dword [edi + ${NIC_REG.TDH}], 0
  mov dword [edi + ${NIC_REG.TDT}], 0
  mov dword [edi + ${NIC_REG.RCTL}], ${RCTL.EN | RCTL.LBM_MAC}
  mov dword [edi + ${NIC_REG.TCTL}], ${TCTL.EN}
${irq ? `  mov dword [edi + ${NIC_REG.IMS}], ${ICR.RXT0}
  sti
` : ''}  xor ebx, ebx
send:
  push edi
  call make_frame
  pop edi
  mov ecx, [${VARS}]
  mov eax, ecx
  shl eax, 4
  add eax, ${TXR}
  ; a slot used before must be done (DD written back) before it is filled again
  cmp ebx, ${RING}
  jb tx_fresh
tx_wait:
  test byte [eax + 12], ${TX_STA.DD}
  jz tx_wait
tx_fresh:
  mov edx, ebx
  shl edx, 11
  add edx, ${IO_FRAMES}
${steal}  mov [eax], edx
  mov dword [eax + 4], 0
  mov edx, ebp
  or edx, ${((TX_CMD.EOP | TX_CMD.IFCS | TX_CMD.RS) << 24) >>> 0}
  mov [eax + 8], edx
  mov dword [eax + 12], 0
  inc ecx
  and ecx, ${RING - 1}
  mov [${VARS}], ecx
  mov [edi + ${NIC_REG.TDT}], ecx
${irq ? `  ; wait for the receive interrupt of this frame
${wait}` : ''}  call drain
  inc ebx
  cmp ebx, ${frames}
  jb send
${irq ? `  cli
` : ''}  hlt
${irq ? `
on_msi:
  push eax
  push ecx
  push edx
  mov eax, [${IO_BAR} + ${NIC_REG.ICR}]
  inc dword [${IO_IRQS}]
  mov ecx, 0x80b
  xor eax, eax
  xor edx, edx
  wrmsr
  pop edx
  pop ecx
  pop eax
  iretd
${DESCRIPTOR_POINTERS}` : ''}
; takes every frame the card finished (DD) from the next RX slot on, copies it to OUT, and gives
; the slots back with one RDT write (the last slot taken)
drain:
  mov ecx, [${VARS + 4}]
  xor ebp, ebp
drain_next:
  mov eax, ecx
  shl eax, 4
  add eax, ${RXR}
  test byte [eax + 12], ${RX_STA.DD}
  jz drain_done
  push edi
  push ecx
  movzx edx, word [eax + 8]
  mov ebp, [${IO_RECEIVED}]
  mov [${IO_OUTLEN} + ebp*4], edx
  mov esi, [eax]
  mov edi, ebp
  shl edi, 11
  add edi, ${IO_OUT}
  mov ecx, edx
  rep movsb
  pop ecx
  pop edi
  mov byte [eax + 12], 0
  inc dword [${IO_RECEIVED}]
  mov ebp, ecx
  inc ebp
  inc ecx
  and ecx, ${RING - 1}
  jmp drain_next
drain_done:
  mov [${VARS + 4}], ecx
  test ebp, ebp
  jz drain_ret
  dec ebp
  mov [edi + ${NIC_REG.RDT}], ebp
drain_ret:
  ret

${makeFrame}`;
}

/**
 * The virtio-net driver (dev/virtio-net.ts, legacy interface, split virtqueues of 16) for `frames`
 * frames: it resets and negotiates the MAC feature, sets up the receive queue (eight buffers, each a
 * chain of a 10-byte header and a 2-KiB frame buffer, all made available) and the transmit queue,
 * checking that each queue's size is 16, then sets DRIVER_OK; then, `batch` frames at a time, puts
 * each frame in a chain of two descriptors of the transmit queue, a zero virtio_net_hdr then the
 * frame (a legacy driver that has not negotiated VIRTIO_F_ANY_LAYOUT must give the header a
 * descriptor of its own, on transmit and receive: virtio 1.1, 5.1.6.6), publishes them with one
 * avail.idx write and notifies the device once (one OUT to QUEUE_NOTIFY: one exit per batch); then
 * takes every used receive chain, checks its length, copies the frame out, gives the chains back
 * with one avail.idx write and one notification of queue 0. Completion is seen in the used rings.
 */
export function virtioDriver(frames: number, batch = VIRTIO_BATCH): string {
  checkFrames(frames);
  if (!Number.isInteger(batch) || batch < 1 || batch > RING) throw new RangeError(`batch ${batch}: 1..${RING}`);
  const rx = queueLayout(BigInt(VQ_RX), VIRTIO_QUEUE);
  const tx = queueLayout(BigInt(VQ_TX), VIRTIO_QUEUE);
  const [rxAvail, rxUsed, txAvail, txUsed] = [Number(rx.avail), Number(rx.used), Number(tx.avail), Number(tx.used)];
  const port = (r: number) => IO_PORTS + r;
  const queue = (index: number, base: number) => `  ; queue ${index}: select it, check its size, zero its two pages, give their page frame number
  mov dx, ${port(VIRTIO_REG.QUEUE_SELECT)}
  mov ax, ${index}
  out dx, ax
  mov dx, ${port(VIRTIO_REG.QUEUE_SIZE)}
  in ax, dx
  cmp ax, ${VIRTIO_QUEUE}
  jne wrong_size
  mov edi, ${base}
  mov ecx, 0x800
  xor eax, eax
  rep stosd
  mov dx, ${port(VIRTIO_REG.QUEUE_PFN)}
  mov eax, ${base >>> 12}
  out dx, eax
`;
  return `bits 32
org ${IO_LOAD}
${findAndPlaceBar0(VIRTIO_VENDOR, VIRTIO_NET_DEVICE, IO_RESULT, IO_PORTS, true)}
${setCommand(CMD.IO | CMD.BUS_MASTER)}  ; reset, ACKNOWLEDGE, DRIVER; accept the MAC feature only
  mov dx, ${port(VIRTIO_REG.STATUS)}
  xor al, al
  out dx, al
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER}
  out dx, al
  mov dx, ${port(VIRTIO_REG.DEVICE_FEATURES)}
  in eax, dx
  and eax, ${VIRTIO_NET_F_MAC}
  mov dx, ${port(VIRTIO_REG.DRIVER_FEATURES)}
  out dx, eax
${queue(0, VQ_RX)}${queue(1, VQ_TX)}  ; receive chain i: descriptor 2i = its header (HDRS + 128 + 16i, 10 bytes), 2i+1 = its
  ; buffer (RXB + i*2K), both device-writable; every chain available
  xor ecx, ecx
rx_fill:
  mov eax, ecx
  shl eax, 5
  add eax, ${VQ_RX}
  mov edx, ecx
  shl edx, 4
  add edx, ${HDRS + 128}
  mov [eax], edx
  mov dword [eax + 4], 0
  mov dword [eax + 8], ${NET_HDR_BYTES}
  lea edx, [ecx*2 + 1]
  shl edx, 16
  or edx, ${VIRTQ_DESC.WRITE | VIRTQ_DESC.NEXT}
  mov [eax + 12], edx
  mov edx, ecx
  shl edx, 11
  add edx, ${RXB}
  mov [eax + 16], edx
  mov dword [eax + 20], 0
  mov dword [eax + 24], ${IO_SLOT}
  mov dword [eax + 28], ${VIRTQ_DESC.WRITE}
  lea edx, [ecx*2]
  mov [${rxAvail + 4} + ecx*2], dx
  inc ecx
  cmp ecx, ${RING}
  jb rx_fill
  mov [${rxAvail + 2}], cx
  mov [${VARS + 4}], ecx
  mov dx, ${port(VIRTIO_REG.STATUS)}
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK}
  out dx, al
  mov dx, ${port(VIRTIO_REG.QUEUE_NOTIFY)}
  xor ax, ax
  out dx, ax
  xor ebx, ebx
batch_start:
  xor esi, esi
tx_next:
  call make_frame
  ; slot = (tx avail idx + esi) mod 8: descriptor 2slot = the header (HDRS + 16slot), 2slot+1 = the frame
  movzx ecx, word [${txAvail + 2}]
  add ecx, esi
  and ecx, ${RING - 1}
  mov eax, ecx
  shl eax, 5
  add eax, ${VQ_TX}
  mov edx, ecx
  shl edx, 4
  add edx, ${HDRS}
  mov dword [edx], 0
  mov dword [edx + 4], 0
  mov word [edx + 8], 0
  mov [eax], edx
  mov dword [eax + 4], 0
  mov dword [eax + 8], ${NET_HDR_BYTES}
  lea edx, [ecx*2 + 1]
  shl edx, 16
  or edx, ${VIRTQ_DESC.NEXT}
  mov [eax + 12], edx
  mov edx, ebx
  shl edx, 11
  add edx, ${IO_FRAMES}
  mov [eax + 16], edx
  mov dword [eax + 20], 0
  mov [eax + 24], ebp
  mov dword [eax + 28], 0
  ; the available ring's entry for this frame: its head, descriptor 2slot (the ring's slot is idx mod 16)
  movzx edx, word [${txAvail + 2}]
  add edx, esi
  and edx, ${VIRTIO_QUEUE - 1}
  lea eax, [ecx*2]
  mov [${txAvail + 4} + edx*2], ax
  inc esi
  inc ebx
  cmp esi, ${batch}
  je tx_publish
  cmp ebx, ${frames}
  jb tx_next
tx_publish:
  ; publish the batch, then one notification for all of it
  add [${txAvail + 2}], si
  mov dx, ${port(VIRTIO_REG.QUEUE_NOTIFY)}
  mov ax, 1
  out dx, ax
tx_wait:
  mov ax, [${txUsed + 2}]
  cmp ax, [${txAvail + 2}]
  jne tx_wait
  call vdrain
  cmp ebx, ${frames}
  jb batch_start
  hlt
wrong_size:
  mov dword [${IO_RESULT + 8}], 0xffffffff
  hlt

; every used receive chain: check its length (a header and at most a 2-KiB frame), copy the frame to
; OUT, make the chain available again; then one avail.idx write and one notification of queue 0
vdrain:
  xor ebp, ebp
vd_next:
  mov ecx, [${VARS + 12}]
  cmp cx, [${rxUsed + 2}]
  je vd_done
  and ecx, ${VIRTIO_QUEUE - 1}
  mov eax, [${rxUsed + 4} + ecx*8]
  mov edx, [${rxUsed + 8} + ecx*8]
  sub edx, ${NET_HDR_BYTES}
  jb bad_length
  cmp edx, ${IO_SLOT}
  ja bad_length
  push ebx
  mov ebx, [${IO_RECEIVED}]
  mov [${IO_OUTLEN} + ebx*4], edx
  ; the head is descriptor 2i: buffer i
  mov esi, eax
  shl esi, 10
  add esi, ${RXB}
  mov edi, ebx
  shl edi, 11
  add edi, ${IO_OUT}
  mov ecx, edx
  rep movsb
  pop ebx
  inc dword [${IO_RECEIVED}]
  inc dword [${VARS + 12}]
  mov ecx, [${VARS + 4}]
  and ecx, ${VIRTIO_QUEUE - 1}
  mov [${rxAvail + 4} + ecx*2], ax
  inc dword [${VARS + 4}]
  inc ebp
  jmp vd_next
vd_done:
  test ebp, ebp
  jz vd_ret
  mov eax, [${VARS + 4}]
  mov [${rxAvail + 2}], ax
  mov dx, ${port(VIRTIO_REG.QUEUE_NOTIFY)}
  xor ax, ax
  out dx, ax
vd_ret:
  ret
bad_length:
  mov dword [${IO_RESULT + 12}], 0xffffffff
  hlt

${makeFrame}`;
}

// ---- the disk task: write N blocks, read them back --------------------------------------------

/** Bytes of a disk block (the NVMe namespace's and virtio-blk's sector). */
export const BLOCK = 512;
/** At most this many blocks (the written and the read-back copies each fit below 0x290000). */
export const IO_MAX_BLOCKS = 128;
/** Where the driver makes the blocks it writes (512 bytes each, contiguous). */
export const IO_WBUF = 0x210000;
/** Where the blocks read back land (512 bytes each): the data delivered to the guest. */
export const IO_RBUF = 0x250000;
const ASQ = 0x200000;
const ACQ = 0x201000;
const IOSQ = 0x202000;
const IOCQ = 0x203000;
/** The NVMe driver's queue depth: admin 2, I/O 4 (so the queues wrap within a short run). */
const NVME_AQ = 2;
const NVME_IOQ = 4;
const AQR = IO_RESULT + 0x80; // the admin queue pair's driver record (see submit)
const IOQR = IO_RESULT + 0xc0; // the I/O queue pair's
const CMDBUF = IO_RESULT + 0x100; // the command being built (64 bytes)

/** Byte i of block k. */
export function blockByte(k: number, i: number): number {
  return (k * 29 + i * 11 + (i >> 8) * 3 + 0x41) & 0xff;
}

/** Guest code: fills block EBX at IO_WBUF + EBX × 512 with its bytes. Clobbers EAX, ECX, EDX, EDI. */
const makeBlock = `; block EBX: byte i = (EBX*29 + i*11 + (i >> 8)*3 + 0x41) & 0xff
make_block:
  mov edi, ebx
  shl edi, 9
  add edi, ${IO_WBUF}
  xor ecx, ecx
mb_loop:
  mov eax, ebx
  imul eax, eax, 29
  mov edx, ecx
  imul edx, edx, 11
  add eax, edx
  mov edx, ecx
  shr edx, 8
  lea edx, [edx + edx*2]
  add eax, edx
  add eax, 0x41
  mov [edi + ecx], al
  inc ecx
  cmp ecx, ${BLOCK}
  jb mb_loop
  ret
`;

function checkBlocks(blocks: number): void {
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > IO_MAX_BLOCKS) throw new RangeError(`blocks ${blocks}: 1..${IO_MAX_BLOCKS}`);
}

/**
 * The NVMe-shaped controller's driver (dev/nvme.ts) for `blocks` blocks: it places BAR0, sets up the
 * admin queue pair (2 entries), enables the controller and waits for RDY, creates I/O completion
 * queue 1 and submission queue 1 (4 entries each, physically contiguous), then makes each block and
 * writes it with one Write command (namespace 1, LBA k, PRP1 the block), and reads every block back
 * with one Read command into IO_RBUF. Each command is submitted with one write of the SQ tail
 * doorbell and its completion found by the phase tag in memory, then released with one write of
 * the CQ head doorbell: two register writes per command, as NVMe's basic model has it. The status of
 * any failed command is kept at IO_RESULT + 16.
 */
export function nvmeDriver(blocks: number): string {
  checkBlocks(blocks);
  const aqa = ((NVME_AQ - 1) << 16) | (NVME_AQ - 1);
  const cc = CC.EN | (6 << CC.IOSQES_SHIFT) | (4 << CC.IOCQES_SHIFT);
  return `bits 32
org ${IO_LOAD}
${findAndPlaceBar0(NVME_VENDOR, NVME_DEVICE, IO_RESULT, IO_BAR)}
${setCommand(CMD.MEMORY | CMD.BUS_MASTER)}  mov edi, ${IO_BAR}
  ; the admin queue pair, then enable and wait for ready
  mov dword [edi + ${NVME_REG.AQA}], ${aqa}
  mov dword [edi + ${NVME_REG.ASQ}], ${ASQ}
  mov dword [edi + ${NVME_REG.ASQ_HI}], 0
  mov dword [edi + ${NVME_REG.ACQ}], ${ACQ}
  mov dword [edi + ${NVME_REG.ACQ_HI}], 0
  mov dword [edi + ${NVME_REG.CC}], ${cc}
wait_rdy:
  test dword [edi + ${NVME_REG.CSTS}], ${CSTS.RDY}
  jz wait_rdy
  ; driver records: SQ base, SQ tail, SQ size, CQ base, CQ head, CQ size, phase, SQ doorbell, CQ doorbell
  mov dword [${AQR}], ${ASQ}
  mov dword [${AQR + 4}], 0
  mov dword [${AQR + 8}], ${NVME_AQ}
  mov dword [${AQR + 12}], ${ACQ}
  mov dword [${AQR + 16}], 0
  mov dword [${AQR + 20}], ${NVME_AQ}
  mov dword [${AQR + 24}], 1
  mov dword [${AQR + 28}], ${IO_BAR + sqTailDoorbell(0)}
  mov dword [${AQR + 32}], ${IO_BAR + cqHeadDoorbell(0)}
  mov dword [${IOQR}], ${IOSQ}
  mov dword [${IOQR + 4}], 0
  mov dword [${IOQR + 8}], ${NVME_IOQ}
  mov dword [${IOQR + 12}], ${IOCQ}
  mov dword [${IOQR + 16}], 0
  mov dword [${IOQR + 20}], ${NVME_IOQ}
  mov dword [${IOQR + 24}], 1
  mov dword [${IOQR + 28}], ${IO_BAR + sqTailDoorbell(1)}
  mov dword [${IOQR + 32}], ${IO_BAR + cqHeadDoorbell(1)}
  ; Create I/O Completion Queue 1: QSIZE 0's based, PC = 1, no interrupts
  call clear_cmd
  mov dword [${CMDBUF}], ${ADMIN.CREATE_CQ | (0x101 << 16)}
  mov dword [${CMDBUF + 24}], ${IOCQ}
  mov dword [${CMDBUF + 40}], ${(((NVME_IOQ - 1) << 16) | 1) >>> 0}
  mov dword [${CMDBUF + 44}], 1
  mov ebp, ${AQR}
  call submit
  ; Create I/O Submission Queue 1 on CQ 1, physically contiguous
  call clear_cmd
  mov dword [${CMDBUF}], ${ADMIN.CREATE_SQ | (0x102 << 16)}
  mov dword [${CMDBUF + 24}], ${IOSQ}
  mov dword [${CMDBUF + 40}], ${(((NVME_IOQ - 1) << 16) | 1) >>> 0}
  mov dword [${CMDBUF + 44}], ${(1 << 16) | 1}
  mov ebp, ${AQR}
  call submit
  ; write each block: make it, then Write LBA k (NLB 0: one block) from it
  xor ebx, ebx
w_loop:
  call make_block
  mov esi, ${NVM.WRITE}
  mov edx, ${IO_WBUF}
  call io_cmd
  inc ebx
  cmp ebx, ${blocks}
  jb w_loop
  ; read every block back into IO_RBUF
  xor ebx, ebx
r_loop:
  mov esi, ${NVM.READ}
  mov edx, ${IO_RBUF}
  call io_cmd
  inc ebx
  cmp ebx, ${blocks}
  jb r_loop
  hlt

; an NVM command on I/O queue 1: opcode ESI, LBA EBX, one block at EDX + EBX*512; a failure's DW3 kept
io_cmd:
  call clear_cmd
  mov eax, ebx
  shl eax, 16
  or eax, esi
  mov [${CMDBUF}], eax
  mov dword [${CMDBUF + 4}], 1
  mov eax, ebx
  shl eax, 9
  add eax, edx
  mov [${CMDBUF + 24}], eax
  mov [${CMDBUF + 40}], ebx
  mov dword [${CMDBUF + 44}], 0
  mov dword [${CMDBUF + 48}], 0
  mov ebp, ${IOQR}
  call submit
  test eax, 0xfffe0000
  jz io_ok
  mov [${IO_RESULT + 16}], eax
io_ok:
  ret

${nvmeSubmit(CMDBUF)}
${makeBlock}`;
}

/** The virtio-blk driver's request queue size (it checks QUEUE_SIZE): three descriptors per request, 8 requests a batch. */
export const VIRTIO_BLK_QUEUE = 32;

/**
 * The virtio-blk driver (dev/virtio-blk.ts, legacy interface, one request queue of 32) for `blocks`
 * blocks: it resets, accepts no feature, sets up queue 0 (checking its size), sets DRIVER_OK; then
 * writes the blocks `batch` at a time: each request a chain of three descriptors (the 16-byte
 * header with type OUT and the sector, device-readable; the block; the status byte,
 * device-writable: a legacy driver gives header and status descriptors of their own, virtio 1.1
 * 5.2.6.3), published with one avail.idx write and one notification (one exit per batch); then reads
 * them back the same way (type IN, the block's buffer device-writable) into IO_RBUF. Completion is
 * seen in the used ring; a request whose status is not OK is kept at IO_RESULT + 16.
 */
export function virtioBlkDriver(blocks: number, batch = VIRTIO_BATCH): string {
  checkBlocks(blocks);
  if (!Number.isInteger(batch) || batch < 1 || batch * 3 > VIRTIO_BLK_QUEUE) throw new RangeError(`batch ${batch}: 1..${Math.floor(VIRTIO_BLK_QUEUE / 3)}`);
  const q = queueLayout(BigInt(VQ_RX), VIRTIO_BLK_QUEUE);
  const [avail, used] = [Number(q.avail), Number(q.used)];
  const port = (r: number) => IO_PORTS + r;
  const STAT = HDRS + 0x100;
  return `bits 32
org ${IO_LOAD}
${findAndPlaceBar0(VIRTIO_VENDOR, VIRTIO_BLK_DEVICE, IO_RESULT, IO_PORTS, true)}
${setCommand(CMD.IO | CMD.BUS_MASTER)}  ; reset, ACKNOWLEDGE, DRIVER; accept no feature
  mov dx, ${port(VIRTIO_REG.STATUS)}
  xor al, al
  out dx, al
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER}
  out dx, al
  mov dx, ${port(VIRTIO_REG.DRIVER_FEATURES)}
  xor eax, eax
  out dx, eax
  ; queue 0: select it, check its size, zero its two pages, give their page frame number
  mov dx, ${port(VIRTIO_REG.QUEUE_SELECT)}
  xor ax, ax
  out dx, ax
  mov dx, ${port(VIRTIO_REG.QUEUE_SIZE)}
  in ax, dx
  cmp ax, ${VIRTIO_BLK_QUEUE}
  jne wrong_size
  mov edi, ${VQ_RX}
  mov ecx, 0x800
  xor eax, eax
  rep stosd
  mov dx, ${port(VIRTIO_REG.QUEUE_PFN)}
  mov eax, ${VQ_RX >>> 12}
  out dx, eax
  mov dx, ${port(VIRTIO_REG.STATUS)}
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK}
  out dx, al
  ; write every block, a batch at a time
  xor ebx, ebx
w_batch:
  xor esi, esi
w_next:
  call make_block
  mov edx, ${VIRTIO_BLK_T.OUT}
  mov edi, ${IO_WBUF}
  xor ebp, ebp
  call request
  inc esi
  inc ebx
  cmp esi, ${batch}
  je w_go
  cmp ebx, ${blocks}
  jb w_next
w_go:
  call publish
  cmp ebx, ${blocks}
  jb w_batch
  ; read every block back into IO_RBUF
  xor ebx, ebx
r_batch:
  xor esi, esi
r_next:
  mov edx, ${VIRTIO_BLK_T.IN}
  mov edi, ${IO_RBUF}
  mov ebp, ${VIRTQ_DESC.WRITE}
  call request
  inc esi
  inc ebx
  cmp esi, ${batch}
  je r_go
  cmp ebx, ${blocks}
  jb r_next
r_go:
  call publish
  cmp ebx, ${blocks}
  jb r_batch
  hlt
wrong_size:
  mov dword [${IO_RESULT + 8}], 0xffffffff
  hlt

; request ESI of the batch: type EDX, sector EBX, its block at EDI + EBX*512 (EBP: WRITE for a
; read, 0 for a write): descriptors 3ESI (header), 3ESI+1 (block), 3ESI+2 (status); the avail
; ring's entry (avail.idx + ESI) mod 32 names 3ESI
request:
  push esi
  ; the header: type, reserved, sector (64 bits)
  mov ecx, esi
  shl ecx, 4
  add ecx, ${HDRS}
  mov [ecx], edx
  mov dword [ecx + 4], 0
  mov [ecx + 8], ebx
  mov dword [ecx + 12], 0
  mov byte [${STAT} + esi], 0xff
  ; descriptor 3ESI at the table + 48 ESI
  lea eax, [esi + esi*2]
  shl eax, 4
  add eax, ${VQ_RX}
  mov [eax], ecx
  mov dword [eax + 4], 0
  mov dword [eax + 8], ${BLK_HDR_BYTES}
  lea ecx, [esi + esi*2 + 1]
  shl ecx, 16
  or ecx, ${VIRTQ_DESC.NEXT}
  mov [eax + 12], ecx
  mov ecx, ebx
  shl ecx, 9
  add ecx, edi
  mov [eax + 16], ecx
  mov dword [eax + 20], 0
  mov dword [eax + 24], ${BLOCK}
  lea ecx, [esi + esi*2 + 2]
  shl ecx, 16
  or ecx, ${VIRTQ_DESC.NEXT}
  or ecx, ebp
  mov [eax + 28], ecx
  lea ecx, [${STAT} + esi]
  mov [eax + 32], ecx
  mov dword [eax + 36], 0
  mov dword [eax + 40], 1
  mov dword [eax + 44], ${VIRTQ_DESC.WRITE}
  ; the avail ring's entry
  movzx ecx, word [${avail + 2}]
  add ecx, esi
  and ecx, ${VIRTIO_BLK_QUEUE - 1}
  lea eax, [esi + esi*2]
  mov [${avail + 4} + ecx*2], ax
  pop esi
  ret

; publishes the ESI requests of the batch, notifies once, waits until the device used them all,
; and keeps a status that is not OK
publish:
  add [${avail + 2}], si
  mov dx, ${port(VIRTIO_REG.QUEUE_NOTIFY)}
  xor ax, ax
  out dx, ax
p_wait:
  mov ax, [${used + 2}]
  cmp ax, [${avail + 2}]
  jne p_wait
  xor ecx, ecx
p_status:
  movzx eax, byte [${STAT} + ecx]
  test eax, eax
  jz p_ok
  or eax, 0x100
  mov [${IO_RESULT + 16}], eax
p_ok:
  inc ecx
  cmp ecx, esi
  jb p_status
  ret

${makeBlock}`;
}
