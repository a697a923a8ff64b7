package abalone

import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.functions._

import Contract._

/** Split: routes the features table's rows by `split` into train / validation / test. Parquet keeps every
  * column; `--format csv` is headerless, label first, without `split`/`row_hash` (SageMaker's built-in
  * algorithms' layout). The same job as processing_scripts/pyspark/split.py.
  */
object Split {
  val Defaults: Map[String, String] = Map(
    "input" -> "/opt/ml/processing/input/features",
    "output" -> "/opt/ml/processing/output", // base of <split>/
    "train-output" -> "",                     // default: <--output>/train
    "validation-output" -> "",
    "test-output" -> "",
    "format" -> "parquet",
    "message-file" -> "/opt/ml/output/message"
  )

  def main(argv: Array[String]): Unit = Io.exit(exec(argv))

  /** The job; its exit code (0, or 1 on bad input with the message file written). */
  def exec(argv: Array[String]): Int = {
    val args = new Args(argv, Defaults)
    val format = args("format")
    require(Set("parquet", "csv").contains(format), s"--format: expected parquet or csv, got $format")
    val outputs = Splits.map(s => s -> Option(args(s"$s-output")).filter(_.nonEmpty).getOrElse(args("output").stripSuffix("/") + "/" + s))
    Io.runJob("abalone-split", args("message-file")) { spark =>
      outputs.foreach { case (_, p) => Io.checkDestination(p) }
      val df = readFeatures(spark, args("input")).cache()
      outputs.foreach { case (split, path) =>
        val part0 = df.filter(col("split") === split)
        val part = if (format == "csv") part0.select(("rings" +: Features).map(c => col(c).cast("double")): _*) else part0
        Io.writeAtomically(part, path, format)
        Io.log(s"$split: ${part.count()} rows -> $path ($format)")
      }
    }
  }

  def readFeatures(spark: SparkSession, path: String): DataFrame = {
    if (!new java.io.File(Io.localPath(path)).exists)
      throw new InputDataException(s"--input: $path does not exist (expected the feature engineering Parquet output)")
    val df = spark.read.parquet(path)
    val missing = Columns.filterNot(df.columns.contains)
    if (missing.nonEmpty)
      throw new InputDataException(s"--input $path: missing column(s) ${missing.mkString("[", ", ", "]")}; expected ${Columns.mkString("[", ", ", "]")}")
    val bad = df.filter(!col("split").isin(Splits: _*) || col("split").isNull).select("split").limit(1).collect()
    if (bad.nonEmpty)
      throw new InputDataException(s"--input $path: split value '${bad.head.get(0)}'; expected one of ${Splits.mkString(", ")}")
    df.select(Columns.map(col): _*)
  }
}
