# exec'd inside probe.py: adds paddle oneDNN INT8 / ORT / OV-on-ONNX variants. Uses mf, pf, work, imgs, calib, V, want, add
import paddle2onnx, onnxruntime as ort
def p2o(model_file, params_file, out):
    if not os.path.isfile(out):
        paddle2onnx.export(model_file, params_file, out, opset_version=13, verbose=False, enable_onnx_checker=True,
                           deploy_backend="onnxruntime")
    return out
def ps_int8():
    d = os.path.join(work, "ps_int8")
    if not os.path.isfile(os.path.join(d, "inference.pdmodel")):
        import paddle
        from paddleslim.quant import quant_post_static
        paddle.enable_static()
        exe = paddle.static.Executor(paddle.CPUPlace())
        class Images(paddle.io.Dataset):
            def __len__(self): return len(imgs)
            def __getitem__(self, i): return (imgs[i],)
        x = paddle.static.data(name="x", shape=[None, 3, 224, 224], dtype="float32")
        gen = paddle.io.DataLoader(Images(), feed_list=[x], places=paddle.CPUPlace(), batch_size=8, shuffle=False,
                                   return_list=False)
        quant_post_static(executor=exe, model_dir=os.path.dirname(mf), quantize_model_path=d,
                          model_filename=os.path.basename(mf), params_filename=os.path.basename(pf),
                          save_model_filename="inference.pdmodel", save_params_filename="inference.pdiparams",
                          data_loader=gen, batch_size=8, batch_nums=8, algo="avg", onnx_format=True, round_type="round")
        paddle.disable_static()
    return os.path.join(d, "inference.pdmodel"), os.path.join(d, "inference.pdiparams")
def ort_runner(path, threads=2, **opts):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    for k, v in opts.items():
        so.add_session_config_entry(k, v)
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]
def ov_onnx(path, static=True):
    return ov_runner(path, batch=True if static else None, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2})
add("ort_fp32", lambda: ort_runner(p2o(mf, pf, os.path.join(work, "fp32.onnx"))))
add("paddle_int8", lambda: paddle_runner(*ps_int8(), "onednn_int8"))
add("ort_qdq_int8", lambda: ort_runner(p2o(*ps_int8(), os.path.join(work, "int8_qdq.onnx"))))
add("ov_qdq_onnx_int8", lambda: ov_onnx(p2o(*ps_int8(), os.path.join(work, "int8_qdq.onnx"))))
